"""Which way a session decodes: in the page or on the server.

The page says what it managed (view-status.js reports it once per decoder: loaded and ran,
or why not); the session keeps the answer, so every later page of the session knows at once.
Until the page has spoken, and wherever the component cannot run at all (Streamlit's AppTest,
WebAssembly off, a model without a page decoder), pages use the server path they always had.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from . import mount, missing
from .decoders import NotInPage, PageDecoder, page_decoder

REPORTS_KEY = "live_reports"  # session_state: what this browser reported
STATUS_KEY = "live-status"  # the model card's component instance
MAX_REASON = 300  # characters of a reason the page sends that are kept


@dataclass
class Reports:
    """What the page told this session."""

    runtime_off: str | None = None  # why this browser cannot run onnxruntime-web at all
    runtime: str = ""  # "onnxruntime-web 1.31.1", once a decoder ran
    decoders: dict[str, str | None] = field(default_factory=dict)  # sha256 -> None (runs) or why not


@dataclass(frozen=True)
class Decoding:
    """The decision for one model in one session."""

    in_page: bool  # the page decodes (its views are mounted); otherwise the server does
    offer: PageDecoder | None  # the decoder the page gets (also while it is loading)
    reason: str  # in the page: which runtime; on the server: why
    pending: bool = False  # the page has not reported on this decoder yet

    @property
    def known(self) -> str | None:
        """What the server has heard, as the page's views are told: "ok", "failed" or None."""
        if self.pending or self.offer is None:
            return None
        return "ok" if self.in_page else "failed"

    def card_line(self) -> str:
        if self.in_page:
            return f"decodes **in this page** as you drag ({self.reason}); other views on the server"
        if self.pending:
            return "decoding in this page: loading the decoder…"
        return f"decodes on the server: {self.reason}"


def decide(offer: PageDecoder | NotInPage, reports: Reports, missing_reason: str | None = None) -> Decoding:
    """Page or server for one model, from the offer, what the front end lacks here, and what
    the page reported (plain: tested without Streamlit)."""
    if isinstance(offer, NotInPage):
        return Decoding(False, None, offer.reason)
    if missing_reason:
        return Decoding(False, None, missing_reason)
    if reports.runtime_off:
        return Decoding(False, offer, reports.runtime_off)
    if offer.sha256 not in reports.decoders:
        return Decoding(False, offer, "the page has not loaded the decoder yet", pending=True)
    problem = reports.decoders[offer.sha256]
    if problem:
        return Decoding(False, offer, problem)
    return Decoding(True, offer, f"{reports.runtime or 'onnxruntime-web'}, WebAssembly")


def record(reports: Reports, report: object) -> bool:
    """Take one report from the page (untrusted JSON); False when it is not one."""
    if not isinstance(report, dict) or not isinstance(report.get("hash"), str) or len(report["hash"]) != 64:
        return False
    reason = str(report.get("reason") or "the page gave no reason")[:MAX_REASON]
    if report.get("ok") is True:
        reports.decoders[report["hash"]] = None
        reports.runtime = str(report.get("runtime") or "")[:60]
    elif report.get("runtime_ok") is False:
        reports.runtime_off = reason
    else:
        reports.decoders[report["hash"]] = reason
    return True


def reports() -> Reports:
    return st.session_state.setdefault(REPORTS_KEY, Reports())


def decoding(engine) -> Decoding:
    """The decision for the engine's model in this session."""
    return decide(page_decoder(engine.source), reports(), missing())


def take_status(key: str):
    """The on_status_change callback of the component instance ``key``: its report, recorded."""

    def taken() -> None:
        state = st.session_state.get(key) or {}
        record(reports(), state.get("status"))

    return taken


def probe(engine) -> Decoding:
    """The model card's part: mounts the status view, which loads the decoder into the page
    (so the pages that use it find it ready) and reports once whether it runs; the report
    reruns the app, and the card then says which way this session decodes."""
    choice = decoding(engine)
    if choice.offer is not None and (choice.in_page or choice.pending):
        mount("status", {"decoder": choice.offer.spec(), "known": choice.known}, key=STATUS_KEY,
              on_status_change=take_status(STATUS_KEY))
    return choice
