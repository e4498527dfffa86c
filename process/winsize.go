package process

// Winsize is a terminal size in character cells.
type Winsize struct {
	Cols, Rows uint16
}
