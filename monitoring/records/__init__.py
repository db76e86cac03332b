"""What the monitor keeps of its windows: ``journal.py`` (one JSON line per window, the
per-version cursor) and ``reports.py`` (the newest Evidently HTML reports)."""
