"""Initial schema: charge points, EVSE status, sessions, meter values, plans, grid events, reports,
settlements and OpenADR documents.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 64-bit ids on PostgreSQL; on SQLite only INTEGER PRIMARY KEY autoincrements (and it is 64-bit there)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "charge_points",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("site_id", sa.String(length=128), nullable=True),
        sa.Column("protocol", sa.String(length=32), nullable=True),
        sa.Column("max_charge_kw", sa.Float(), nullable=True),
        sa.Column("max_discharge_kw", sa.Float(), nullable=True),
        sa.Column("vendor", sa.String(length=128), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("firmware_version", sa.String(length=128), nullable=True),
        sa.Column("serial_number", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("boot_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_points")),
    )
    with op.batch_alter_table("charge_points", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charge_points_site_id"), ["site_id"], unique=False)

    op.create_table(
        "documents",
        sa.Column("seq", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.String(length=255), nullable=False),
        sa.Column("program_id", sa.String(length=255), nullable=True),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("ven_id", sa.String(length=255), nullable=True),
        sa.Column("client_name", sa.String(length=255), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_documents")),
        sa.UniqueConstraint("kind", "object_id", name=op.f("uq_documents_kind_object_id")),
    )
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.create_index("ix_documents_kind_client", ["kind", "client_name"], unique=False)
        batch_op.create_index("ix_documents_kind_event", ["kind", "event_id"], unique=False)
        batch_op.create_index("ix_documents_kind_program", ["kind", "program_id"], unique=False)
        batch_op.create_index("ix_documents_kind_ven", ["kind", "ven_id"], unique=False)

    op.create_table(
        "grid_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("program_id", sa.String(length=128), nullable=True),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("modification_number", sa.Integer(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("intervals", sa.JSON(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_events")),
        sa.UniqueConstraint("source", "event_id", name=op.f("uq_grid_events_source_event_id")),
    )
    with op.batch_alter_table("grid_events", schema=None) as batch_op:
        batch_op.create_index("ix_grid_events_window", ["start_at", "end_at"], unique=False)

    op.create_table(
        "plans",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("for_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grid_start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step_s", sa.Integer(), nullable=False),
        sa.Column("n_steps", sa.Integer(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
    )
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plans_for_time"), ["for_time"], unique=False)
        batch_op.create_index(batch_op.f("ix_plans_site_id"), ["site_id"], unique=False)

    op.create_table(
        "reports",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("program_id", sa.String(length=128), nullable=True),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("report_name", sa.String(length=255), nullable=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_event_id"), ["event_id"], unique=False)

    op.create_table(
        "settlements",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("programme_id", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("site_id", sa.String(length=128), nullable=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step_s", sa.Integer(), nullable=False),
        sa.Column("baseline_kw", sa.JSON(), nullable=False),
        sa.Column("measured_kw", sa.JSON(), nullable=False),
        sa.Column("baseline_kwh", sa.Float(), nullable=False),
        sa.Column("measured_kwh", sa.Float(), nullable=False),
        sa.Column("delivered_kwh", sa.Float(), nullable=False),
        sa.Column("payment", sa.Float(), nullable=False),
        sa.Column("penalty", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.create_index("ix_settlements_event", ["programme_id", "event_id"], unique=False)

    op.create_table(
        "charging_sessions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("charge_point_id", sa.String(length=128), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("id_tag", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("meter_start_wh", sa.Float(), nullable=False),
        sa.Column("meter_stop_wh", sa.Float(), nullable=True),
        sa.Column("stop_reason", sa.String(length=64), nullable=True),
        sa.Column("departure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("energy_wanted_kwh", sa.Float(), nullable=True),
        sa.Column("v2g_consent", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["charge_point_id"],
            ["charge_points.id"],
            name=op.f("fk_charging_sessions_charge_point_id_charge_points"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charging_sessions")),
        sa.UniqueConstraint(
            "charge_point_id", "transaction_id", name=op.f("uq_charging_sessions_charge_point_id_transaction_id")
        ),
    )
    with op.batch_alter_table("charging_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charging_sessions_started_at"), ["started_at"], unique=False)

    op.create_table(
        "evse_status",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("charge_point_id", sa.String(length=128), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charge_point_id"],
            ["charge_points.id"],
            name=op.f("fk_evse_status_charge_point_id_charge_points"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evse_status")),
    )
    with op.batch_alter_table("evse_status", schema=None) as batch_op:
        batch_op.create_index(
            "ix_evse_status_cp_evse_at", ["charge_point_id", "evse_id", "connector_id", "at"], unique=False
        )

    op.create_table(
        "meter_values",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("charge_point_id", sa.String(length=128), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("measurand", sa.String(length=64), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=False),
        sa.Column("location", sa.String(length=16), nullable=False),
        sa.Column("context", sa.String(length=32), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["charge_point_id"],
            ["charge_points.id"],
            name=op.f("fk_meter_values_charge_point_id_charge_points"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_values")),
        sa.UniqueConstraint(
            "charge_point_id", "evse_id", "at", "measurand", "phase", "location", name="uq_meter_values_reading"
        ),
    )
    with op.batch_alter_table("meter_values", schema=None) as batch_op:
        batch_op.create_index("ix_meter_values_at", ["at"], unique=False)
        batch_op.create_index("ix_meter_values_transaction", ["charge_point_id", "transaction_id"], unique=False)

    op.create_table(
        "plan_setpoints",
        sa.Column("plan_id", BIG_ID, nullable=False),
        sa.Column("charge_point_id", sa.String(length=128), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("power_kw", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_plan_setpoints_plan_id_plans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("plan_id", "charge_point_id", "evse_id", name=op.f("pk_plan_setpoints")),
    )


def downgrade() -> None:
    op.drop_table("plan_setpoints")
    with op.batch_alter_table("meter_values", schema=None) as batch_op:
        batch_op.drop_index("ix_meter_values_transaction")
        batch_op.drop_index("ix_meter_values_at")

    op.drop_table("meter_values")
    with op.batch_alter_table("evse_status", schema=None) as batch_op:
        batch_op.drop_index("ix_evse_status_cp_evse_at")

    op.drop_table("evse_status")
    with op.batch_alter_table("charging_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charging_sessions_started_at"))

    op.drop_table("charging_sessions")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index("ix_settlements_event")

    op.drop_table("settlements")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_event_id"))

    op.drop_table("reports")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plans_site_id"))
        batch_op.drop_index(batch_op.f("ix_plans_for_time"))

    op.drop_table("plans")
    with op.batch_alter_table("grid_events", schema=None) as batch_op:
        batch_op.drop_index("ix_grid_events_window")

    op.drop_table("grid_events")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index("ix_documents_kind_ven")
        batch_op.drop_index("ix_documents_kind_program")
        batch_op.drop_index("ix_documents_kind_event")
        batch_op.drop_index("ix_documents_kind_client")

    op.drop_table("documents")
    with op.batch_alter_table("charge_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charge_points_site_id"))

    op.drop_table("charge_points")
