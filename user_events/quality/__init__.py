"""Data-quality check bodies the ingest, warehouse and lake checks share: pandera's reports over a table's
schema (`reports.py`), the asset-check results built from them and from Spark counts (`results.py`), and the
64-bit event-id hashes that find repeated ids (`event_ids.py`)."""
