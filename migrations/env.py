import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import MetaData

USE_TWOPHASE = False

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine(bind_key=None):
    """The migration role's engine when MIGRATION_DATABASE_URL (PII_MIGRATION_DATABASE_URL for
    the vault) is set, else the app's own: the runtime role cannot change the schema (A75)."""
    from app.db_roles import maintenance_engine

    return maintenance_engine(bind_key)


def get_engine_url(bind_key=None):
    try:
        return get_engine(bind_key).url.render_as_string(hide_password=False).replace("%", "%%")
    except AttributeError:
        return str(get_engine(bind_key).url).replace("%", "%%")


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option("sqlalchemy.url", get_engine_url())
bind_names = []
if current_app.config.get("SQLALCHEMY_BINDS") is not None:
    bind_names = list(current_app.config["SQLALCHEMY_BINDS"].keys())
else:
    get_bind_names = getattr(current_app.extensions["migrate"].db, "bind_names", None)
    if get_bind_names:
        bind_names = get_bind_names()
for bind in bind_names:
    context.config.set_section_option(bind, "sqlalchemy.url", get_engine_url(bind_key=bind))
target_db = current_app.extensions["migrate"].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def render_item(type_, obj, autogen_context):
    """Render the project's column types as plain SQLAlchemy types in migration scripts."""
    from app.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def get_metadata(bind):
    """Return the metadata for a bind."""
    if bind == "":
        bind = None
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[bind]

    # legacy, less flexible implementation
    m = MetaData()
    for t in target_db.metadata.tables.values():
        if t.info.get("bind_key") == bind:
            t.tometadata(m)
    return m


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    # for the --sql use case, run migrations for each URL into
    # individual files.

    engines = {"": {"url": context.config.get_main_option("sqlalchemy.url")}}
    for name in bind_names:
        engines[name] = rec = {}
        rec["url"] = context.config.get_section_option(name, "sqlalchemy.url")

    for name, rec in engines.items():
        logger.info("Migrating database %s" % (name or "<default>"))
        file_ = f"{name}.sql"
        logger.info(f"Writing output to {file_}")
        with open(file_, "w") as buffer:
            context.configure(
                url=rec["url"],
                output_buffer=buffer,
                target_metadata=get_metadata(name),
                literal_binds=True,
            )
            with context.begin_transaction():
                context.run_migrations(engine_name=name)


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if len(script.upgrade_ops_list) >= len(bind_names) + 1:
                empty = True
                for upgrade_ops in script.upgrade_ops_list:
                    if not upgrade_ops.is_empty():
                        empty = False
                if empty:
                    directives[:] = []
                    logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    # for the direct-to-DB use case, start a transaction on all
    # engines, then run all migrations, then commit all transactions.
    engines = {"": {"engine": get_engine()}}
    for name in bind_names:
        engines[name] = rec = {}
        rec["engine"] = get_engine(bind_key=name)

    for rec in engines.values():
        engine = rec["engine"]
        rec["connection"] = conn = engine.connect()
        if engine.dialect.name == "sqlite":
            # SQLite changes constraints only by rebuilding a table; dropping the old copy must
            # not cascade deletes into the tables that refer to it. Foreign keys are off for the
            # migration (this pragma only works outside a transaction) and checked before commit.
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")

        if USE_TWOPHASE:
            rec["transaction"] = conn.begin_twophase()
        else:
            rec["transaction"] = conn.begin()

    try:
        for name, rec in engines.items():
            logger.info("Migrating database %s" % (name or "<default>"))
            context.configure(
                connection=rec["connection"],
                upgrade_token=f"{name}_upgrades",
                downgrade_token=f"{name}_downgrades",
                target_metadata=get_metadata(name),
                render_item=render_item,
                **conf_args,
            )
            context.run_migrations(engine_name=name)

        for name, rec in engines.items():
            if rec["engine"].dialect.name == "sqlite":
                broken = rec["connection"].exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"foreign keys broken in {name or 'main'}: {broken[:5]}")

        if USE_TWOPHASE:
            for rec in engines.values():
                rec["transaction"].prepare()

        for rec in engines.values():
            rec["transaction"].commit()
    except:
        for rec in engines.values():
            rec["transaction"].rollback()
        raise
    finally:
        for rec in engines.values():
            if rec["engine"].dialect.name == "sqlite":
                rec["connection"].connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")
            rec["connection"].close()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
