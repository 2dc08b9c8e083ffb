"""The functions' state, on SQLite or PostgreSQL (SQLAlchemy 2.x): `database` holds what every
function shares (the engine, outages, claiming INSERTs, time as stored); `emails`, `shipments`
and `points` hold one function's tables and queries each. Idempotency lives in the database: each
side effect is keyed by the order id and claimed by an INSERT that only one request can win (ON
CONFLICT DO NOTHING), never by checking first."""
