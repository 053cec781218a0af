"""Reports: paper tables (reported beside reproduced numbers) with provenance footers."""
