"""A plan out and in: export, import, the printable page and the PDF/A archive."""
