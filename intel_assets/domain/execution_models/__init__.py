"""Owns the replaceable market-rule models (LEAN style: fill, fee, slippage, sizing; one model
kind per module) and their compositions; ``intel_assets.domain.fills`` re-exports them."""
