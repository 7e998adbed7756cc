package apikeyconnect_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/go-apikey/apikey"
	apikeyconnect "github.com/go-apikey/apikey/adapters/connect"
)

// A Connect handler behind the interceptor. Generated code would give
// the procedure names and handler constructors; connect.NewUnaryHandler
// is what they call.
func Example() {
	ctx := context.Background()
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	plain, _, err := keys.Create(ctx, apikey.NewKey{Owner: "alice", Scopes: []string{"greet"}})
	if err != nil {
		panic(err)
	}

	const greet = "/greet.v1.GreetService/Greet"
	auth := apikeyconnect.New(keys,
		apikeyconnect.WithScopes(map[string][]string{greet: {"greet"}}),
		apikeyconnect.WithPublic("/grpc.health.v1.Health/Check"),
	)
	mux := http.NewServeMux()
	mux.Handle(greet, connect.NewUnaryHandler(greet,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.StringValue], error) {
			p, ok := apikey.FromContext(ctx)
			if !ok { // a public procedure: never serve it as nobody
				return nil, apikeyconnect.Error(apikey.ErrMissingKey)
			}
			return connect.NewResponse(wrapperspb.String("hello, " + p.Owner)), nil
		},
		connect.WithInterceptors(auth),
	))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	client := connect.NewClient[emptypb.Empty, wrapperspb.StringValue](srv.Client(), srv.URL+greet)
	req := connect.NewRequest(&emptypb.Empty{})
	req.Header().Set("Authorization", "Bearer "+plain) // or X-API-Key
	res, err := client.CallUnary(ctx, req)
	fmt.Println(res.Msg.GetValue(), err)

	_, err = client.CallUnary(ctx, connect.NewRequest(&emptypb.Empty{}))
	fmt.Println(connect.CodeOf(err), err)
	// Output:
	// hello, alice <nil>
	// unauthenticated unauthenticated: Missing API key
}
