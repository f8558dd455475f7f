"""What the service keeps: the trail, the case ledger, notifications, the database they live in."""
