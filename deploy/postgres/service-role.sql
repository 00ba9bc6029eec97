-- A dedicated, least-privilege role for the running service (psql -v ON_ERROR_STOP=1 -d unlearn -f service-role.sql,
-- as the database owner, after `UnlearnService migrate`). Migrations keep running as the owner; the service connects
-- as unlearn_service.
--
-- Evidence tables are append-only twice over: the migration's trigger rejects UPDATE, DELETE and TRUNCATE for every
-- role, and this role is not even granted those privileges on them. Only the owner or a superuser can get around
-- either, and the hash chain and signed checkpoints (GET /v1/audit/verify) show what they changed.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'unlearn_service') THEN
        CREATE ROLE unlearn_service LOGIN;   -- then: ALTER ROLE unlearn_service PASSWORD '…';
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO unlearn_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO unlearn_service;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO unlearn_service;

REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints, certificates FROM unlearn_service;
REVOKE UPDATE, DELETE, TRUNCATE ON "__EFMigrationsHistory" FROM unlearn_service;
REVOKE INSERT ON "__EFMigrationsHistory" FROM unlearn_service;

-- Hangfire keeps its job storage in its own schema and creates or upgrades its tables at start-up: let the service
-- role own that schema (and nothing else).
CREATE SCHEMA IF NOT EXISTS hangfire AUTHORIZATION unlearn_service;
