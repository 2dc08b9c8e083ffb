"""What the operator, the functions and the dispatcher all speak: the order, the shop's event
types, the step catalogue, and CloudEvents on the wire."""
