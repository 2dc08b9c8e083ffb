"""The checkout functions (confirmation email, warehouse shipment, rewards points) and the runtime
they share."""
