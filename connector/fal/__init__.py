"""fal.ai specifics: endpoint ids, queue URLs, status normalisation."""
