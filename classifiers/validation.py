"""Request checks shared by the embedded server and the proxy in front of vLLM.

Both answer bad input the way vLLM does (4xx with `{"error": {"message", "type", "param",
"code"}}`) so a caller sees one contract whichever engine runs; BloomWatch's own limit on text
size (settings.max_text_chars) is enforced here because vLLM has no such limit.
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi.responses import JSONResponse
from pydantic import ValidationError

from bloomwatch.json_input import NotJSON, parse_json
from classifiers.types import ClassificationRequest


class RequestRejected(Exception):
    def __init__(self, status: HTTPStatus, message: str, err_type: str = "BadRequestError", param: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.err_type = err_type
        self.param = param

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, self.err_type, self.param)


def error_response(
    status: HTTPStatus, message: str, err_type: str = "BadRequestError", param: str | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": err_type, "param": param, "code": int(status)}}
    return JSONResponse(body, status_code=int(status))


def parse_classify_request(
    raw: bytes, *, served_models: tuple[str, ...], max_text_chars: int, max_inputs: int
) -> ClassificationRequest:
    """The request, or RequestRejected. `served_models`: the models a request may name (one per line). Any body that `json` cannot turn into values is a 400,
    including an integer over 4,300 digits and arrays nested too deep (bloomwatch/json_input.py)."""
    try:
        payload = parse_json(raw)
    except NotJSON as exc:
        raise RequestRejected(HTTPStatus.BAD_REQUEST, f"request body is not valid JSON: {exc}") from None
    try:
        request = ClassificationRequest.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise RequestRejected(HTTPStatus.BAD_REQUEST, f"invalid /classify request: {problems}") from None
    if request.model and request.model not in served_models:
        raise RequestRejected(
            HTTPStatus.NOT_FOUND, f"The model `{request.model}` does not exist.", "NotFoundError", "model"
        )
    texts = request.texts
    if not texts:
        raise RequestRejected(HTTPStatus.BAD_REQUEST, "You must pass at least one prompt", param="input")
    if len(texts) > max_inputs:
        raise RequestRejected(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"{len(texts)} inputs in one request; the limit is {max_inputs} (BLOOMWATCH_SERVE_MAX_INPUTS)",
            param="input",
        )
    for index, text in enumerate(texts):
        if len(text) > max_text_chars:
            raise RequestRejected(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"input {index} has {len(text)} characters; the limit is {max_text_chars} (BLOOMWATCH_MAX_TEXT_CHARS)",
                param="input",
            )
    return request
