"""Air-conditioning routes (being written for issue 6)."""

from fastapi import APIRouter

router = APIRouter()
