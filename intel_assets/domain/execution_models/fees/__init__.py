"""Owns the fee models, one per module (LEAN ``Common/Orders/Fees/``): the ``FeeModel``
interface with its ``OrderFeeParameters``, ``InteractiveBrokersFeeModel`` and
``AlpacaFeeModel``."""
