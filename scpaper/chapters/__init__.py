"""One module per chapter of the book (chN_<name> for book/0N_<name>.md): its experiment drivers and figures."""
