"""Transform handlers: create/update bodies (operations validated), public lists."""

from __future__ import annotations

from ... import transforms
from ...ctx import Ctx, Fields
from ...domain import ApiError
from ...shapes import Shaper

SHAPERS = {"transforms": Shaper.transform, "attribute_transforms": Shaper.attribute_transform}


def _transform_create(kind):
    def creator(c: Ctx, f: Fields):
        fields = {"name": f.str("name", required=True),
                  "output_type": f.str("output_type", required=True),
                  "code_type": f.str("code_type", required=True),
                  "code_encoding": f.str("code_encoding", required=True),
                  "reusable": True if f.bool("reusable") is None else f.data["reusable"],
                  "description": f.text("description"),
                  "code": _transform_code(kind, f, required=True),
                  **f.present(code_config="obj", custom_config="obj", data_credentials_id="int",
                              runtime_data_credentials_id="int", tags="strings")}
        return c.dom.new_doc(kind, c.user, fields)
    return creator


def _transform_code(kind, f: Fields, required=False):
    if kind == "transforms":
        code = f.list("code", required=required)
        if code is not None:
            problem = transforms.validate_operations(code)
            if problem:
                raise ApiError(400, f"code{problem if problem.startswith('[') else ': ' + problem}")
        return code
    return f.text("code", required)


def _transform_update(kind):
    def updater(c: Ctx, f: Fields, doc: dict):
        changes = {**f.present(name="str", output_type="str", code_type="str", code_encoding="str"),
                   **f.description_update(), **f.present(reusable="bool")}
        code = _transform_code(kind, f)
        if code is not None:
            changes["code"] = code
        changes.update(f.present(code_config="obj", custom_config="obj"))
        return c.dom.update_doc(kind, doc, changes)
    return updater


def public_transforms(kind):
    def handler(c: Ctx):
        docs = [d for d in c.store.all(kind) if d.get("reusable")]
        return [SHAPERS[kind](c.shaper, d, False) for d in c.page(docs)]
    return handler


CREATORS = {"transforms": _transform_create("transforms"),
            "attribute_transforms": _transform_create("attribute_transforms")}
UPDATERS = {"transforms": _transform_update("transforms"),
            "attribute_transforms": _transform_update("attribute_transforms")}
