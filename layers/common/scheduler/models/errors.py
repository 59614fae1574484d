"""The error bodies of the API: its own (`ErrorBody`: a code, a message, the details) and the
answers API Gateway gives before the API runs (401, and the 403 of a refused token).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from scheduler.models.base import ApiModel


class ErrorDetail(ApiModel):
    code: str = Field(examples=["not_found"])
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorBody(ApiModel):
    error: ErrorDetail


class GatewayUnauthorized(BaseModel):
    """API Gateway's own answer when the Authorization header is missing or empty."""

    model_config = ConfigDict(extra="forbid")

    message: Literal["Unauthorized"]


class GatewayForbidden(BaseModel):
    """API Gateway's own answer when the authorizer refuses the token."""

    model_config = ConfigDict(extra="forbid")

    message: Literal["Forbidden"]


class ForbiddenBody(RootModel[GatewayForbidden | ErrorBody]):
    """A 403: API Gateway's when the authorizer refuses a token, or the API's own (ErrorBody,
    code `forbidden`) when valid credentials may not do this."""
