using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace UnlearnService.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Evidence : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "forget_commitment_count",
                table: "unlearning_runs",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "forget_commitment_root",
                table: "unlearning_runs",
                type: "TEXT",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "hash",
                table: "audit_events",
                type: "TEXT",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "previous_hash",
                table: "audit_events",
                type: "TEXT",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "sequence",
                table: "audit_events",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "audit_checkpoints",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    tree_size = table.Column<long>(type: "INTEGER", nullable: false),
                    root_hash = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    key_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    envelope_json = table.Column<string>(type: "TEXT", nullable: false),
                    previous_tree_size = table.Column<long>(type: "INTEGER", nullable: true),
                    consistency_proof_json = table.Column<string>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_audit_checkpoints", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "certificates",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    request_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    model_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    key_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    envelope_json = table.Column<string>(type: "TEXT", nullable: false),
                    issued_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_certificates", x => x.id);
                    table.ForeignKey(
                        name: "fk_certificates_deletion_requests_request_id",
                        column: x => x.request_id,
                        principalTable: "deletion_requests",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateIndex(
                name: "ix_audit_events_sequence",
                table: "audit_events",
                column: "sequence",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_audit_checkpoints_tree_size",
                table: "audit_checkpoints",
                column: "tree_size",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_certificates_request_id_model_id",
                table: "certificates",
                columns: new[] { "request_id", "model_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_certificates_tenant_id_request_id",
                table: "certificates",
                columns: new[] { "tenant_id", "request_id" });

            // The same append-only rule as PostgreSQL's trigger. In the embedded default whoever holds the file can drop
            // it; it keeps the service itself from ever changing evidence, and the hash chain catches anyone else.
            foreach (var table in EvidenceTables)
            {
                migrationBuilder.Sql($"""
                    CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
                    BEGIN SELECT RAISE(ABORT, 'UPDATE on {table} rejected: evidence is append-only'); END;
                    """);
                migrationBuilder.Sql($"""
                    CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
                    BEGIN SELECT RAISE(ABORT, 'DELETE on {table} rejected: evidence is append-only'); END;
                    """);
            }
        }

        static readonly string[] EvidenceTables = ["audit_events", "audit_checkpoints", "certificates"];

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            foreach (var table in EvidenceTables)
            {
                migrationBuilder.Sql($"DROP TRIGGER {table}_no_update; DROP TRIGGER {table}_no_delete;");
            }

            migrationBuilder.DropTable(
                name: "audit_checkpoints");

            migrationBuilder.DropTable(
                name: "certificates");

            migrationBuilder.DropIndex(
                name: "ix_audit_events_sequence",
                table: "audit_events");

            migrationBuilder.DropColumn(
                name: "forget_commitment_count",
                table: "unlearning_runs");

            migrationBuilder.DropColumn(
                name: "forget_commitment_root",
                table: "unlearning_runs");

            migrationBuilder.DropColumn(
                name: "hash",
                table: "audit_events");

            migrationBuilder.DropColumn(
                name: "previous_hash",
                table: "audit_events");

            migrationBuilder.DropColumn(
                name: "sequence",
                table: "audit_events");
        }
    }
}
