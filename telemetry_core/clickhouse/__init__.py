"""ClickHouse schema (numbered migrations) and the code that connects and applies them."""
