"""The database schema, as SQLAlchemy Core tables: the one description that the Alembic
migrations in ``alembic/versions`` create, and that a test compares them with.

* ``resources`` holds the current version of every resource (``pk`` is the surrogate key
  the index tables use); a deleted resource keeps its row with ``deleted`` set.
* ``resource_versions`` holds every version ever written, deletions included, in write
  order (``seq``), with the position of each in the change feed (``txid``, ``seq``): history
  (R4 http.html#history) reads it, see :mod:`fhirbridge.storage.feed`.
* ``search_snapshots`` keep the order of a sorted search result while a client pages
  through it, so that the pages neither skip nor repeat (R4 search.html#paging).
* ``outbox`` holds the notifications that writes owe to subscribers (R4 subscription.html),
  written in the same transaction as the change and delivered afterwards, at least once;
  ``subscription_secrets`` the secret each signing Subscription's notifications are signed with;
  ``subscription_events`` the numbered events of each topic-based Subscription, kept for replay.
* ``patient_identities`` holds the personnummer, samordningsnummer and reserve numbers of every
  Patient that stands for a person now (see :mod:`fhirbridge.patients.identity`), one row per
  number: its unique key is what keeps one person from becoming two Patients.  It is written
  in the same transaction as the Patient.
* ``idx_*`` hold the search index of each current resource, one table per search parameter
  type (R4 search.html#ptypes); ``resource_links`` every local reference, for referential
  integrity.  They are rewritten in the same transaction as the resource.

* ``report_*`` project what the follow-up report counts (:mod:`fhirbridge.report.facts`): one
  row per contract, per fixed-role assignment, per seven-questions response and per main
  condition, rewritten by a write listener in the same transaction as the resource, so the
  report aggregates narrow rows in SQL instead of parsing stored JSON.  Contracts and responses
  carry the record keys of the cell-key method (:mod:`fhirbridge.report.cellkey`), made with the
  secret in ``report_secret``; ``report_releases`` keeps each report as released.

* ``access_epochs`` counts the changes to what the access policy reads about each patient (its
  consents, care network, emergency grants, merges) and to the directory; ``emergency_grants``
  finds a patient's emergency grants.

* ``export_jobs`` holds each Bulk Data ``$export`` until it is cancelled or expires (:mod:`fhirbridge.export`);
  ``maintenance_marks`` how far a long maintenance run got (``fhirbridge reindex``).

Times are integer microseconds since the epoch (UTC); content is canonical FHIR JSON bytes,
served as stored.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

PrimaryKey = BigInteger().with_variant(Integer(), "sqlite")
TYPE_LENGTH = 64
ID_LENGTH = 64


def _resource_fk() -> Column[int]:
    return Column("res_pk", PrimaryKey, ForeignKey("resources.pk", ondelete="CASCADE"), nullable=False)


resources = Table(
    "resources",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("res_type", String(TYPE_LENGTH), nullable=False),
    Column("res_id", String(ID_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_updated", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("content", LargeBinary, nullable=True),
    UniqueConstraint("res_type", "res_id", name="uq_resources_type_id"),
)
Index("ix_resources_type_pk", resources.c.res_type, resources.c.pk)
Index("ix_resources_type_updated", resources.c.res_type, resources.c.last_updated)

resource_versions = Table(
    "resource_versions",
    metadata,
    Column("seq", PrimaryKey, primary_key=True, autoincrement=True),
    Column("res_type", String(TYPE_LENGTH), nullable=False),
    Column("res_id", String(ID_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_updated", BigInteger, nullable=False),
    Column("method", String(8), nullable=False),
    Column("content", LargeBinary, nullable=True),
    Column("txid", BigInteger, nullable=False, server_default=text("0")),
    UniqueConstraint("res_type", "res_id", "version", name="uq_resource_versions_type_id_version"),
)
"""``txid`` orders the change feed (:mod:`fhirbridge.storage.feed`): on PostgreSQL the id of the
transaction that wrote the version, raised to the previous version's when that is higher, set by
the trigger ``resource_versions_feed_txid`` (migration 0012) on every insert; 0 on SQLite, whose
single writer commits in ``seq`` order, and for every version written before 0012."""
Index("ix_resource_versions_position", resource_versions.c.txid, resource_versions.c.seq)
Index(
    "ix_resource_versions_type_position",
    resource_versions.c.res_type,
    resource_versions.c.txid,
    resource_versions.c.seq,
)
Index("ix_resource_versions_updated", resource_versions.c.last_updated)

idx_token = Table(
    "idx_token",
    metadata,
    _resource_fk(),
    Column("res_type", String(TYPE_LENGTH), nullable=False),
    Column("param", String(64), nullable=False),
    Column("system", Text, nullable=True),
    Column("code", Text, nullable=True),
    Column("text", Text, nullable=True),
)
Index("ix_idx_token_value", idx_token.c.res_type, idx_token.c.param, idx_token.c.code, idx_token.c.system)
Index("ix_idx_token_res", idx_token.c.res_pk)

idx_string = Table(
    "idx_string",
    metadata,
    _resource_fk(),
    Column("res_type", String(TYPE_LENGTH), nullable=False),
    Column("param", String(64), nullable=False),
    Column("normalized", Text, nullable=False),
    Column("exact", Text, nullable=False),
    Column("sortable", Text, nullable=True),
)
Index("ix_idx_string_value", idx_string.c.res_type, idx_string.c.param, idx_string.c.normalized)
Index("ix_idx_string_res", idx_string.c.res_pk)

idx_date = Table(
    "idx_date",
    metadata,
    _resource_fk(),
    Column("res_type", String(TYPE_LENGTH), nullable=False),
    Column("param", String(64), nullable=False),
    Column("low", BigInteger, nullable=False),
    Column("high", BigInteger, nullable=False),
)
Index("ix_idx_date_low", idx_date.c.res_type, idx_date.c.param, idx_date.c.low)
Index("ix_idx_date_high", idx_date.c.res_type, idx_date.c.param, idx_date.c.high)
Index("ix_idx_date_res", idx_date.c.res_pk)

idx_reference = Table(
    "idx_reference",
    metadata,
    _resource_fk(),
    Column("res_type", String(TYPE_LENGTH), nullable=False),
    Column("param", String(64), nullable=False),
    Column("target_type", String(TYPE_LENGTH), nullable=True),
    Column("target_id", String(ID_LENGTH), nullable=True),
    Column("target_url", Text, nullable=True),
)
Index("ix_idx_reference_value", idx_reference.c.res_type, idx_reference.c.param, idx_reference.c.target_id)
Index("ix_idx_reference_target", idx_reference.c.target_type, idx_reference.c.target_id)
Index("ix_idx_reference_res", idx_reference.c.res_pk)

idx_uri = Table(
    "idx_uri",
    metadata,
    _resource_fk(),
    Column("res_type", String(TYPE_LENGTH), nullable=False),
    Column("param", String(64), nullable=False),
    Column("value", Text, nullable=False),
)
Index("ix_idx_uri_value", idx_uri.c.res_type, idx_uri.c.param, idx_uri.c.value)
Index("ix_idx_uri_res", idx_uri.c.res_pk)

resource_links = Table(
    "resource_links",
    metadata,
    _resource_fk(),
    Column("path", Text, nullable=False),
    Column("target_type", String(TYPE_LENGTH), nullable=False),
    Column("target_id", String(ID_LENGTH), nullable=False),
)
Index("ix_resource_links_target", resource_links.c.target_type, resource_links.c.target_id, resource_links.c.path)
Index("ix_resource_links_res", resource_links.c.res_pk)

search_snapshots = Table(
    "search_snapshots",
    metadata,
    Column("snapshot_id", String(32), primary_key=True),
    Column("res_type", String(TYPE_LENGTH), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("total", Integer, nullable=False),
)
Index("ix_search_snapshots_created", search_snapshots.c.created)

search_snapshot_rows = Table(
    "search_snapshot_rows",
    metadata,
    Column(
        "snapshot_id",
        String(32),
        ForeignKey("search_snapshots.snapshot_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("res_pk", PrimaryKey, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("subscription_id", String(ID_LENGTH), nullable=False),
    Column("res_type", String(TYPE_LENGTH), nullable=False),
    Column("res_id", String(ID_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("headers", Text, nullable=False),
    Column("payload", String(64), nullable=True),
    Column("created", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", BigInteger, nullable=False),
    Column("delivered", BigInteger, nullable=True),
    Column("failed", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
)
Index("ix_outbox_due", outbox.c.delivered, outbox.c.failed, outbox.c.next_attempt)
_OWED = text("delivered IS NULL AND failed IS NULL")
Index(
    "ix_outbox_owed",
    outbox.c.subscription_id,
    outbox.c.res_type,
    outbox.c.res_id,
    outbox.c.pk,
    postgresql_where=_OWED,
    sqlite_where=_OWED,
)

patient_identities = Table(
    "patient_identities",
    metadata,
    Column("system", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("patient_id", String(ID_LENGTH), nullable=False),
    UniqueConstraint("system", "value", name="uq_patient_identities_system_value"),
)
Index("ix_patient_identities_patient", patient_identities.c.patient_id)

access_epochs = Table(
    "access_epochs",
    metadata,
    Column("scope", String(2 * ID_LENGTH), primary_key=True),
    Column("epoch", BigInteger, nullable=False),
)
"""A counter per patient (``Patient/<id>``) and one for the directory (``directory``), raised in
the same transaction as every write that can change who may see that patient's data: the
access policy keeps what it read about a patient while the counters stay where they were."""

emergency_grants = Table(
    "emergency_grants",
    metadata,
    Column("res_pk", PrimaryKey, ForeignKey("resources.pk", ondelete="CASCADE"), nullable=False),
    Column("patient_id", String(ID_LENGTH), nullable=False),
    Column("ends", BigInteger, nullable=False),
)
Index("ix_emergency_grants_patient", emergency_grants.c.patient_id, emergency_grants.c.ends)
Index("ix_emergency_grants_res", emergency_grants.c.res_pk)
"""Each emergency grant (an AuditEvent of subtype emergency-access) by the patient it opens and
the instant it ends, kept in the transaction that writes the grant: the access policy finds a
patient's open grants here, not among every entry of the patient's access log."""


export_jobs = Table(
    "export_jobs",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("level", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("caller", Text, nullable=False),
    Column("request", Text, nullable=False),
    Column("plan", Text, nullable=False),
    Column("transaction_time", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_until", BigInteger, nullable=True),
    Column("progress", Text, nullable=True),
    Column("outputs", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("expires", BigInteger, nullable=True),
)
Index("ix_export_jobs_status", export_jobs.c.status, export_jobs.c.created)
Index("ix_export_jobs_expires", export_jobs.c.expires)
"""Each Bulk Data ``$export`` kick-off (:mod:`fhirbridge.export.jobs`): who asked, what for,
and how far the worker got; removed with its files when the client cancels it or when it
expires (``expires``: set when the job ends, ``FHIRBRIDGE_EXPORT_KEEP_HOURS`` later)."""

maintenance_marks = Table(
    "maintenance_marks",
    metadata,
    Column("name", String(ID_LENGTH), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
)
"""How far a long maintenance run got (``reindex``: the last resource key done), written in the
same transaction as the work, so that an interrupted run continues there."""


def _report_fk(primary: bool) -> Column[int]:
    return Column(
        "res_pk", PrimaryKey, ForeignKey("resources.pk", ondelete="CASCADE"), primary_key=primary, nullable=False
    )


report_contracts = Table(
    "report_contracts",
    metadata,
    _report_fk(True),
    Column("patient_id", String(ID_LENGTH), nullable=True),
    Column("status", String(32), nullable=False),
    Column("started", BigInteger, nullable=True),
    Column("author", String(2 * ID_LENGTH + 1), nullable=True),
    Column("next_contact", BigInteger, nullable=True),
    Column("declined", Boolean, nullable=False),
    Column("revised", BigInteger, nullable=False),
    Column("record_key", Integer, nullable=False, server_default="0"),
    Column("patient_key", Integer, nullable=False, server_default="0"),
)
Index("ix_report_contracts_patient", report_contracts.c.patient_id)

report_contract_units = Table(
    "report_contract_units",
    metadata,
    _report_fk(False),
    Column("unit", String(2 * ID_LENGTH + 1), nullable=False),
)
Index("ix_report_contract_units_res", report_contract_units.c.res_pk)

report_fixed_roles = Table(
    "report_fixed_roles",
    metadata,
    _report_fk(False),
    Column("patient_id", String(ID_LENGTH), nullable=False),
    Column("role", String(32), nullable=False),
    Column("begins", BigInteger, nullable=True),
    Column("ends", BigInteger, nullable=True),
)
Index("ix_report_fixed_roles_patient", report_fixed_roles.c.patient_id, report_fixed_roles.c.role)
Index("ix_report_fixed_roles_res", report_fixed_roles.c.res_pk)

report_answers = Table(
    "report_answers",
    metadata,
    _report_fk(True),
    Column("respondent", String(8), nullable=False),
    Column("unit_id", String(ID_LENGTH), nullable=False),
    Column("patient_id", String(ID_LENGTH), nullable=True),
    Column("authored", BigInteger, nullable=True),
    *(Column(f"q{n}", Integer, nullable=True) for n in range(1, 8)),
    Column("record_key", Integer, nullable=False, server_default="0"),
)

report_conditions = Table(
    "report_conditions",
    metadata,
    _report_fk(True),
    Column("patient_id", String(ID_LENGTH), nullable=False),
    Column("chapter", String(8), nullable=False),
)
Index("ix_report_conditions_patient", report_conditions.c.patient_id)

report_secret = Table(
    "report_secret",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("secret", String(64), nullable=False),
)
"""The secret the report's record keys are made with (:mod:`fhirbridge.report.secret`), one row,
generated on first need unless ``FHIRBRIDGE_REPORT_KEY_SECRET`` gives one."""

report_releases = Table(
    "report_releases",
    metadata,
    Column("release_key", String(64), primary_key=True),
    Column("made_at", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
)
Index("ix_report_releases_made_at", report_releases.c.made_at)
"""The follow-up report as released, one row per units, period and minimum cell, kept for good
(:mod:`fhirbridge.report.releases`)."""

report_frozen_tertials = Table(
    "report_frozen_tertials",
    metadata,
    Column("tertial_start", BigInteger, primary_key=True, autoincrement=False),
    Column("frozen_at", BigInteger, nullable=False),
)
"""The tertials whose records the report has frozen (:mod:`fhirbridge.report.freeze`)."""

report_frozen_contracts = Table(
    "report_frozen_contracts",
    metadata,
    Column("tertial_start", BigInteger, nullable=False),
    Column("res_pk", BigInteger, nullable=False),
    Column("unit_id", String(ID_LENGTH), nullable=True),
    Column("patient_id", String(ID_LENGTH), nullable=True),
    Column("started", BigInteger, nullable=True),
    Column("status", String(32), nullable=False),
    Column("declined", Boolean, nullable=False),
    Column("record_key", Integer, nullable=False),
    Column("patient_key", Integer, nullable=False),
    Column("in_force", Integer, nullable=False),
    Column("patient_row", Integer, nullable=False),
    Column("age_band", String(16), nullable=False),
    Column("sex", String(16), nullable=False),
    Column("chapter", String(8), nullable=True),
    Column("municipal", Integer, nullable=False),
    Column("fvk", Integer, nullable=False),
    Column("fld", Integer, nullable=False),
    Column("ahead", Integer, nullable=False),
    Column("revision_band", String(16), nullable=False),
)
Index("ix_report_frozen_contracts_atom", report_frozen_contracts.c.tertial_start, report_frozen_contracts.c.unit_id)
"""Each contract of a frozen tertial as the report counts it, as of the tertial's end."""

report_frozen_answers = Table(
    "report_frozen_answers",
    metadata,
    Column("tertial_start", BigInteger, nullable=False),
    Column("unit_id", String(ID_LENGTH), nullable=False),
    Column("respondent", String(8), nullable=False),
    *(Column(f"q{n}", Integer, nullable=True) for n in range(1, 8)),
    Column("record_key", Integer, nullable=False),
)
Index("ix_report_frozen_answers_atom", report_frozen_answers.c.tertial_start, report_frozen_answers.c.unit_id)
"""Each seven-questions response of a frozen tertial (a patient's latest per unit)."""

subscription_secrets = Table(
    "subscription_secrets",
    metadata,
    Column("subscription_id", String(ID_LENGTH), primary_key=True),
    Column("key_id", String(ID_LENGTH), nullable=False),
    Column("secret", Text, nullable=False),
)
"""Each signing Subscription's secret (:mod:`fhirbridge.notifications.signing`), never in the resource."""

subscription_event_counters = Table(
    "subscription_event_counters",
    metadata,
    Column("subscription_id", String(ID_LENGTH), primary_key=True),
    Column("last_number", BigInteger, nullable=False),
    Column("last_sent", BigInteger, nullable=True),
)
subscription_events = Table(
    "subscription_events",
    metadata,
    Column("subscription_id", String(ID_LENGTH), primary_key=True),
    Column("event_number", BigInteger, primary_key=True),
    Column("topic", Text, nullable=False),
    Column("res_type", String(TYPE_LENGTH), nullable=False),
    Column("res_id", String(ID_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created", BigInteger, nullable=False),
)
"""Each topic-based Subscription's numbered events and their count (:mod:`fhirbridge.notifications.topic_events`)."""

REPORT_TABLES = (report_contracts, report_contract_units, report_fixed_roles, report_answers, report_conditions)
"""The follow-up report's projection, rewritten with each resource by the report listener."""

INDEXED: tuple[Table, ...] = (idx_token, idx_string, idx_date, idx_reference, idx_uri, resource_links)
"""The tables that hold a current resource's search index and links, rewritten with it."""
INDEX_TABLES = tuple(table.name for table in INDEXED)
