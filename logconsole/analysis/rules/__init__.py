"""Sigma detections: loading rules, mapping them onto logconsole's formats, running them over the index."""
