package main

// Validators. Each returns the normalised answer; flags and typed answers go through the same one.

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// descIf keeps a language's own description unless it simply followed the nb one that is now replaced.
func descIf(lang, oldNB, newNB string) string {
	if lang == oldNB {
		return newNB
	}
	return lang
}
