"""After a promotion: live results decide whether it stays.

``live.py`` (each version's metric on its labelled rows), ``rollback.py`` (a promotion that
made live results worse is undone) and ``shadow_gate.py`` (a shadow candidate is promoted or
cleared).
"""
