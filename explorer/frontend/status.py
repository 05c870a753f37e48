"""Which way a session decodes: in the page or on the server.

A session with a browser decodes in the page unless the page has said it cannot: its views are
mounted straight away (no round trip first, so nothing is swapped in front of the user), and a
page that cannot run the decoder reports why through the model card's component (readiness.js;
once per decoder and page; outside every fragment, so the whole app reruns), after which the
session uses the server path for that decoder (or, WebAssembly being off, for all).
A session without a browser (Streamlit's AppTest), a model without a page decoder and an
install without the front end use the server path they always had.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from . import missing, mount, ort_version
from .decoders import NotInPage, PageDecoder, page_decoder

REPORTS_KEY = "live_reports"  # session_state: what this session's page reported
STATUS_KEY = "live-status"  # the model card's component instance
MAX_REASON = 300  # characters of a reason the page sends that are kept
NO_BROWSER = "this session has no browser to decode in"


@dataclass
class Reports:
    """What the page told this session: only what it could not do."""

    runtime_off: str | None = None  # why this browser cannot run onnxruntime-web at all
    failed: dict[str, str] = field(default_factory=dict)  # decoder sha256 -> why it did not run


@dataclass(frozen=True)
class Decoding:
    """The decision for one model in one session."""

    in_page: bool  # the page decodes (its views are mounted); otherwise the server does
    offer: PageDecoder | None  # the decoder the page gets
    reason: str  # in the page: which runtime; on the server: why

    def card_line(self) -> str:
        if self.in_page:
            return (f"Sliders, Interpolate's player and the Map's cursor decode **in this page** ({self.reason}), "
                    "the other views on the server")
        return f"decodes on the server: {self.reason}"


def decide(offer: PageDecoder | NotInPage, reports: Reports, missing_reason: str | None = None,
           browser: bool = True) -> Decoding:
    """Page or server for one model (plain: tested without Streamlit)."""
    if isinstance(offer, NotInPage):
        return Decoding(False, None, offer.reason)
    for reason in (missing_reason, None if browser else NO_BROWSER, reports.runtime_off,
                   reports.failed.get(offer.sha256)):
        if reason:
            return Decoding(False, offer, reason)
    return Decoding(True, offer, f"onnxruntime-web {ort_version()}, WebAssembly")


def record(reports: Reports, report: object) -> bool:
    """Take one report from the page (untrusted JSON); False when it is not one."""
    if not isinstance(report, dict) or report.get("ok") is not False:
        return False
    if not isinstance(report.get("hash"), str) or len(report["hash"]) != 64:
        return False
    reason = str(report.get("reason") or "the page gave no reason")[:MAX_REASON]
    if report.get("runtime_ok") is False:
        reports.runtime_off = reason
    else:
        reports.failed[report["hash"]] = reason
    return True


def reports() -> Reports:
    return st.session_state.setdefault(REPORTS_KEY, Reports())


def browser_connected() -> bool:
    """A browser opened this session (it sends a User-Agent); Streamlit's AppTest does not."""
    try:
        return bool(st.context.headers.get("User-Agent"))
    except Exception:  # no session context at all
        return False


def decoding(engine) -> Decoding:
    """The decision for the engine's model in this session."""
    return decide(page_decoder(engine.source), reports(), missing(), browser_connected())


def _take_status() -> None:
    """The model card's component reported (its on_status_change callback)."""
    state = st.session_state.get(STATUS_KEY) or {}
    record(reports(), state.get("status"))


def probe(engine) -> Decoding:
    """The model card's part: mounts the status view, which loads the decoder into the page on
    whichever page opens first (so Sliders and Interpolate find it ready) and reports if it
    cannot run; the report reruns the app, and the card then says the server decodes."""
    choice = decoding(engine)
    if choice.in_page:
        mount("status", {"decoder": choice.offer.spec()}, key=STATUS_KEY, on_status_change=_take_status)
    return choice
