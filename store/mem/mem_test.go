package mem_test

import (
	"testing"

	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/mem"
	"github.com/berty-go/berty/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Factory{
		Open: func(t *testing.T) store.Store { return mem.New() },
	})
}
