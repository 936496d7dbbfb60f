"""The protocols a run may follow (`xares run --protocol`): name -> what it means. The run, the task and
the report all speak this vocabulary, so it lives on the ground floor."""

PROTOCOLS = {
    "published": "kNN normalised per clip, as documented; model selection as published",
    "strict": "kNN normalised per clip; model selection never sees test data (validation carved from "
    "training data, k-fold: the next fold)",
    "xares-0.1.3": "the public implementation's own choices where they differ from the documented protocol: "
    "kNN normalises the training matrix per feature dimension; the retrieval loss uses raw dot products, "
    "a norm regulariser and same-clip negatives; the frame loss averages over the batch padding; segment F1 "
    "drops clips shorter than one segment; model selection as published",
}
