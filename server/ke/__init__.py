"""The koordinerende enhet (KE, issue 14): a municipality's administrators of its plans.

A KE administrator is not a plan role. The KE sees facts, never words: what SQL holds and the
counts and dates the server computes from zones, never a line anyone wrote; every KE view and
export is an access-log row. `access.py` decides who is a KE administrator of which
municipality; every KE route starts there.
"""
