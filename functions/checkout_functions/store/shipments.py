"""The warehouse function's table and query: one shipment per order."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, String, Table, func, select

from checkout_functions.store.database import ORDER_ID, Queries, metadata, now, utc

warehouse_shipments = Table(
    "warehouse_shipments",
    metadata,
    Column("order_id", ORDER_ID, primary_key=True),
    Column("shipment_id", String(36), nullable=False),
    Column("country", String(2), nullable=False),
    # Written by the query (see database.now); the server default is for rows written before.
    Column("created_at", DateTime, nullable=False, server_default=func.now()),
)
"""One shipment per order."""

TABLES = (warehouse_shipments,)


@dataclass(frozen=True)
class Shipment:
    """An order's shipment, as recorded."""

    shipment_id: str
    country: str
    created_at: datetime.datetime
    """When it was recorded (UTC): the time of the reply every repeat gets."""
    new: bool
    """False when the order had been shipped before (nothing was recorded this time)."""


class Shipments(Queries):
    """The queries of the warehouse function."""

    tables = TABLES

    def record(self, order_id: str, shipment_id: str, country: str) -> Shipment:
        """The order's shipment: the one this call recorded, or the one recorded before."""
        table = warehouse_shipments
        at = now()
        shipment = {"order_id": order_id, "shipment_id": shipment_id, "country": country}
        with self.database.transaction() as connection:
            if self.database.inserted(connection, table, {**shipment, "created_at": at}):
                return Shipment(shipment_id, country, utc(at), new=True)
            row = connection.execute(select(table).where(table.c.order_id == order_id)).one()
            return Shipment(row.shipment_id, row.country, utc(row.created_at), new=False)
