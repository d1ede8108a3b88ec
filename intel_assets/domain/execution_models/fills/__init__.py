"""Owns the fill models, one per module (LEAN ``Common/Orders/Fills/``): the ``FillModel``
interface with its ``FillModelParameters``, ``LeanEquityFillModel`` (LEAN's EquityFillModel, the
base whose per-order-type methods a venue overrides where it differs) and
``AlpacaPaperFillModel``; ``fill_prices`` holds the prices they read."""
