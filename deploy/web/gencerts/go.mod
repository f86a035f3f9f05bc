module github.com/flowsieve/flowsieve/deploy/web/gencerts

go 1.26.0
