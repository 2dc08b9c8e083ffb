"""The dispatcher: delivers the broker's events to each Trigger's subscriber over HTTP, publishes
the replies back to the broker, and dead-letters what cannot be delivered."""
