"""LoRA adapters, one module per part:

- adapters: peft adapters for the translation generators: train, save, apply at load time, merge for export;
- sar2optical: SAR2Optical's hand-written adapters (not peft): read either file layout, check the fit, wrap.

`from core.lora import apply_adapter` keeps working: adapters' public names are re-exported here.
"""

from core.lora.adapters import add_lora, apply_adapter, merge_adapter, save_adapter

__all__ = ["add_lora", "apply_adapter", "merge_adapter", "save_adapter"]
