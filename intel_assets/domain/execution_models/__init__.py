"""Owns the replaceable market-rule models, LEAN style (QuantConnect/Lean
``Common/Orders/{Fills,Fees,Slippage}/``): one package per model kind (``fills/``, ``fees/``,
``slippage/``), one model per module, the fill and fee interfaces taking a parameter object
(LEAN's ``FillModelParameters``, ``OrderFeeParameters``); plus sizing, market data, order terms,
tick rounding and the compositions (``compositions.ExecutionModels``, LEAN's brokerage model).
``intel_assets.domain.fills`` re-exports them."""
