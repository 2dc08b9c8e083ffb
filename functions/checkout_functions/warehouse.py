"""The warehouse function (step `shipment`): one shipment per order, if the warehouse ships to
the order's country."""

from __future__ import annotations

import uuid

from checkout_core import steps
from checkout_core.order import Order
from checkout_functions.errors import ConflictingRepeat, Refusal
from checkout_functions.runtime import Function, Served
from checkout_functions.settings import Settings
from checkout_functions.store.database import Database
from checkout_functions.store.shipments import Shipments

SHIPMENTS = uuid.UUID("0b4c3f4e-52f6-5b8e-9d0a-6f1d2c3b4a59")
"""The namespace of shipment ids (UUID version 5): fixed, so an order's id never changes."""


def shipment_id(order_id: str) -> str:
    """The shipment id of an order: derived from the order id alone, the same on every attempt."""
    return str(uuid.uuid5(SHIPMENTS, order_id))


def check_country(country: str, served: frozenset[str]) -> None:
    """Refuse an order for a country the warehouse does not ship to (none listed: all served)."""
    if served and country not in served:
        raise Refusal(
            "CountryNotServed",
            f"the warehouse does not ship to {country}; it ships to {', '.join(sorted(served))}",
        )


def function(settings: Settings, database: Database) -> Function:
    shipments = Shipments(database)
    shipments.create()

    def handle(order: Order) -> Served:
        country = order.shipping_address.country
        check_country(country, settings.served_countries)
        shipment = shipments.record(order.id, shipment_id(order.id), country)
        if shipment.country != country:
            raise ConflictingRepeat(
                order.id,
                f"shipped to {shipment.country}",
                country,
                "order.shippingAddress.country",
            )
        return Served({"shipmentId": shipment.shipment_id}, shipment.created_at)

    return Function(steps.BY_FUNCTION["warehouse"], handle, (database.ping,))
