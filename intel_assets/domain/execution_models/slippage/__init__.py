"""Owns the slippage models, one per module (LEAN ``Common/Orders/Slippage/``): the
``SlippageModel`` interface, ``ZeroSlippageModel`` and ``ConstantSlippageModel``."""
