//! Thumbnails for the gallery (being built).
