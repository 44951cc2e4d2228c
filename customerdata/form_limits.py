"""Form bodies within the app's own limits, and a 413 that names the limit a form exceeded.

Werkzeug answers three different form limits with one bare RequestEntityTooLarge: the body
(MAX_CONTENT_LENGTH), one non-file field (MAX_FORM_MEMORY_SIZE) and the number of multipart parts
(MAX_FORM_PARTS). A client must learn which one it crossed, so the form parser says it here.
"""
from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser


class FormLimitExceeded(RequestEntityTooLarge):
    """A multipart form over one of its own limits, with the limit named in `description`."""


def _crossed_part_limit(error):
    """Whether werkzeug raised while counting parts (MultipartDecoder.next_event) rather than
    while measuring a field (receive_data, or MultiPartParser.parse across data events)."""
    frame = error.__traceback__
    while frame.tb_next is not None:
        frame = frame.tb_next
    return frame.tb_frame.f_code.co_name == "next_event"


class FormParser(FormDataParser):
    def _parse_multipart(self, stream, mimetype, content_length, options):
        try:
            return super()._parse_multipart(stream, mimetype, content_length, options)
        except RequestEntityTooLarge as error:
            if _raised_by_body_limit(error):
                raise
            if _crossed_part_limit(error):
                raise FormLimitExceeded(f"The form has more than {self.max_form_parts} parts.") from None
            raise FormLimitExceeded(f"A form field is larger than the limit of {self.max_form_memory_size} "
                                    "bytes; send large values as JSON or as a file.") from None


def _raised_by_body_limit(error):
    """A chunked body over MAX_CONTENT_LENGTH is found by the limited input stream while parsing."""
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name == "on_exhausted":
            return True
        frame = frame.tb_next
    return False


class FormLimitedRequest(Request):
    form_data_parser_class = FormParser
