"""The PostgreSQL recorder every service uses (shared.settings names it in PROCESS_RECORDER_TOPIC).

eventsourcing 9.5.6's one-call insert function (POSTGRES_ENABLE_DB_FUNCTIONS, which API
processes use: bench/ measured append +45%) does not take the table lock its statement path
takes. Without it, two saves at once can commit out of notification-id order: a relay that
reads the log just between them moves past the id committed second and never publishes it
(the PostgreSQL soak lost two ApplicationSubmitted that way). This recorder's function takes
the same EXCLUSIVE lock first, so ids are committed in the order they are issued; readers
are not blocked. The function is named after its table: the library's one name per schema
would let two applications sharing a schema insert into each other's table."""
from __future__ import annotations

from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
from psycopg.sql import SQL, Identifier


class OrderedProcessRecorder(PostgresProcessRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events",
                 tracking_table_name: str = "notification_tracking"):
        super().__init__(datastore, events_table_name=events_table_name, tracking_table_name=tracking_table_name)
        schema = Identifier(datastore.schema)
        self.pg_function_name_insert_events = f"{events_table_name}_insert"
        function = Identifier(self.pg_function_name_insert_events)
        self.sql_invoke_pg_function_insert_events = SQL("SELECT * FROM {schema}.{function}((%s))").format(
            schema=schema, function=function)
        self.sql_create_pg_function_insert_events = SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}(events {schema}.{event}[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$"
            "BEGIN"
            "    SET LOCAL lock_timeout = '{lock_timeout}s';"
            "    LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE;"
            "    NOTIFY {channel};"
            "    RETURN QUERY"
            "    INSERT INTO {schema}.{table} AS t (originator_id, originator_version, topic, state)"
            "    SELECT originator_id, originator_version, topic, state FROM unnest(events)"
            "    RETURNING notification_id;"
            "END;"
            "$BODY$"
        ).format(
            schema=schema, function=function, lock_timeout=datastore.lock_timeout,
            table=Identifier(self.events_table_name), channel=Identifier(self.channel_name),
            event=Identifier(self.stored_event_type_name),
        )
        self.sql_create_statements[self.create_insert_function_statement_index] = \
            self.sql_create_pg_function_insert_events
