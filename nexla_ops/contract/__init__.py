"""Contract checking: do a Nexla's answers match the published reference and SDK 1.0.8?

catalogue.py lists the operator endpoints; schemas/ holds our JSON Schemas for them (written
by build.py from the reference digest, checked in; loader.py reads them); discovery.py finds ids to call them with;
compare.py and sdkcheck.py give the findings, verdicts.py one endpoint's verdict; shape.py records and compares
value-free shapes and record.py writes them (--record); report.py prints; runner.py ties them together for contract_check.py.
Nothing here prints or stores a response value: only paths, field paths and JSON types.
"""
