"""Helpers of the tests, in one place: configs on free ports, clients, API provisioning, rooms, status,
uploads, the browser bridge, committed test data. Test modules import from here and never from each other
or from a conftest.py (tests/unit/test_test_layout.py keeps it so); fixtures live in the conftest.py files."""
