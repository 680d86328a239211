// Package suggest finds the name a user probably meant, for "did you
// mean" errors.
package suggest

import "strings"

// Closest returns the candidate nearest to n: one equal to it ignoring
// case, else the first within an edit distance of 2; "" when none is.
func Closest(n string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if strings.EqualFold(c, n) {
			return c
		}
		if d := editDistance(c, n, bestD); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is Levenshtein's distance between a and b, or limit when it
// is limit or more.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}

// Hint returns " (did you mean "x"?)" for the candidate nearest to n, or
// "" when none is near.
func Hint(n string, candidates []string) string {
	if c := Closest(n, candidates); c != "" {
		return ` (did you mean "` + c + `"?)`
	}
	return ""
}
