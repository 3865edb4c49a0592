"""admin routes (being written for issue 5)."""

from fastapi import APIRouter

router = APIRouter()
