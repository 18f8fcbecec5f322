"""The model layer: declarative pad, procedure and fault descriptions, validated."""
