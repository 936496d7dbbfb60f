"""The LLM track: the XARES-LLM protocol (a projection into a small language model with LoRA adapters,
scored on the text it generates), trained on the frame embeddings X-ARES already stores.

One module per job: protocol (the published and offline settings), answers (each task's prompt and
answer text, as data), lm (finding the language model on this machine), model (projection + frozen LM
+ LoRA), train (the training loop over the stored frames), evaluate (generation and scoring), results
(the results.json block) and run (the `xares llm` command).
"""
