"""The body of a PATCH: only the fields sent change; at least one is sent, and some may not be null."""

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, model_validator


class Changes(BaseModel):
    """Base of the PATCH bodies. `not_null`: fields that may be left out but not sent as null."""

    model_config = ConfigDict(extra="forbid")
    not_null: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _something(self) -> "Changes":
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        for field in self.not_null:
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self
