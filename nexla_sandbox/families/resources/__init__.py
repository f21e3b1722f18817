"""Generic resource CRUD shared by most kinds: list/get/create/update/delete/copy."""
