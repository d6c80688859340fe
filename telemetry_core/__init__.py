"""Shared core of the telemetry pipeline: event schema, validation, flags, signing,
reference data, settings and ClickHouse migrations. Imports no service, no aiohttp, no faust."""
