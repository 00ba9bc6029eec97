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
-- role own that schema and what is in it (and nothing else). The owner's own commands (migrate, create-key) may have
-- created it already, so ownership is handed over, not just requested at creation.
CREATE SCHEMA IF NOT EXISTS hangfire;
ALTER SCHEMA hangfire OWNER TO unlearn_service;
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'hangfire' LOOP
        -- Serial columns' sequences follow their table.
        EXECUTE format('ALTER TABLE hangfire.%I OWNER TO unlearn_service', t.tablename);
    END LOOP;
END
$$;
