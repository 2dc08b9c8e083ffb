"""The checkout operator: reconciles Checkouts by orchestration or choreography."""
